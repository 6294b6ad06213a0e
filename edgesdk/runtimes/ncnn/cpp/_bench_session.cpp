// A plain ncnn::Net with the SDK's options (float32, threads): the baseline for glue overhead. It
// reads the .param and .bin files, without the SDK's integrity check.
class BareSession {
 public:
  BareSession(const std::string& model_path, int threads) {
    namespace tensors = sdk::detail::ncnn_tensors;
    net_.opt = tensors::fp32_options(threads);
    const std::string weights_path = model_path.substr(0, model_path.rfind('.')) + ".bin";  // model.ncnn.param -> model.ncnn.bin
    if (net_.load_param(model_path.c_str()) != 0 || net_.load_model(weights_path.c_str()) != 0) {
      throw std::runtime_error("ncnn could not load " + model_path + " and " + weights_path);
    }
    outputs_ = net_.output_names();
  }

  double time_run(const sdk::Tensor& input) {
    const auto start = Clock::now();
    ncnn::Extractor extractor = net_.create_extractor();
    extractor.input(sdk::detail::ncnn_tensors::kInputBlob, sdk::detail::ncnn_tensors::to_mat(input));
    for (const char* name : outputs_) {
      ncnn::Mat output;
      if (extractor.extract(name, output) != 0) throw std::runtime_error(std::string("ncnn could not compute ") + name);
    }
    return ms_since(start);
  }

 private:
  ncnn::Net net_;
  std::vector<const char*> outputs_;
};

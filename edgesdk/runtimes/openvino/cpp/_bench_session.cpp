// A plain OpenVINO infer request with the SDK's settings (CPU, f32, LATENCY, threads): the baseline for
// glue overhead. It reads the IR from the files, without the SDK's integrity check.
class BareSession {
 public:
  BareSession(const std::string& model_path, int threads) {
    ov::AnyMap config{ov::hint::inference_precision(ov::element::f32), ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY)};
    if (threads > 0) config.emplace(ov::inference_num_threads(threads));
    compiled_ = core_.compile_model(core_.read_model(model_path), "CPU", config);
    request_ = compiled_.create_infer_request();
  }

  double time_run(const sdk::Tensor& input) {
    const auto start = Clock::now();
    const ov::Tensor value(compiled_.input().get_element_type(), ov::Shape(input.shape.begin(), input.shape.end()),
                           const_cast<uint8_t*>(input.bytes.data()));
    request_.set_input_tensor(value);
    request_.infer();
    return ms_since(start);
  }

 private:
  ov::Core core_;
  ov::CompiledModel compiled_;
  ov::InferRequest request_;
};

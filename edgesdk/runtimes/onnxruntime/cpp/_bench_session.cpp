// A plain ONNX Runtime session with the SDK's session settings: the baseline for glue overhead.
class BareSession {
 public:
  BareSession(const std::string& model_path, int threads)
      // Telemetry off as in the SDK's adapter (the variable must be set before the first environment).
      : env_((setenv("ORT_DISABLE_TELEMETRY", "1", 0), ORT_LOGGING_LEVEL_WARNING), "bare-session"),
        session_(nullptr),
        memory_(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault)) {
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(threads);
    session_ = Ort::Session(env_, model_path.c_str(), options);
    Ort::AllocatorWithDefaultOptions allocator;
    input_name_ = session_.GetInputNameAllocated(0, allocator).get();
    input_type_ = session_.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetElementType();
    for (std::size_t i = 0; i < session_.GetOutputCount(); ++i) {
      output_names_.push_back(session_.GetOutputNameAllocated(i, allocator).get());
    }
    for (const std::string& name : output_names_) output_ptrs_.push_back(name.c_str());
  }

  double time_run(const sdk::Tensor& input) {
    const auto start = Clock::now();
    Ort::Value value = Ort::Value::CreateTensor(memory_, const_cast<uint8_t*>(input.bytes.data()), input.bytes.size(),
                                                input.shape.data(), input.shape.size(), input_type_);
    const char* name = input_name_.c_str();
    auto outputs = session_.Run(Ort::RunOptions{nullptr}, &name, &value, 1, output_ptrs_.data(), output_ptrs_.size());
    return ms_since(start);
  }

 private:
  Ort::Env env_;
  Ort::Session session_;
  Ort::MemoryInfo memory_;
  std::string input_name_;
  ONNXTensorElementDataType input_type_ = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  std::vector<std::string> output_names_;
  std::vector<const char*> output_ptrs_;
};

// A plain TensorRT execution context on the model's engine (from $EDGESDK_TENSORRT_ENGINE_DIR, else
// built from the ONNX file and the calibration cache beside it), without the SDK's integrity check
// or checks of the input: the baseline for glue overhead. Device buffers are allocated once.
class BareSession {
 public:
  BareSession(const std::string& model_path, int /*threads: TensorRT runs on the GPU*/) {
    namespace trt = sdk::detail::trt;
    std::vector<uint8_t> plan;
    const std::string dir = trt::engine_dir();
    if (dir.empty() || !trt::read_file(dir + "/" + trt::kEngineFile, plan) || plan.empty()) {
      std::vector<uint8_t> onnx;
      if (!trt::read_file(model_path, onnx)) throw std::runtime_error("cannot read " + model_path);
      trt::BuildSettings settings;
      const std::string folder = model_path.substr(0, model_path.find_last_of('/') + 1);
      std::vector<uint8_t> cache;
      if (trt::read_file(folder + "calibration.cache", cache)) settings.calibration_cache.assign(cache.begin(), cache.end());
      plan = trt::build_engine(onnx.data(), onnx.size(), settings);
    }
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    engine_.reset(runtime_ ? runtime_->deserializeCudaEngine(plan.data(), plan.size()) : nullptr);
    context_.reset(engine_ ? engine_->createExecutionContext() : nullptr);
    if (!context_ || cudaStreamCreate(&stream_) != cudaSuccess) throw std::runtime_error("TensorRT: " + logger_.take_errors());
    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      const char* name = engine_->getIOTensorName(i);
      const nvinfer1::Dims dims = engine_->getTensorShape(name);
      std::size_t bytes = sizeof(float);
      for (int32_t d = 0; d < dims.nbDims; ++d) bytes *= static_cast<std::size_t>(dims.d[d] > 0 ? dims.d[d] : 1);
      void* buffer = nullptr;
      if (cudaMalloc(&buffer, bytes) != cudaSuccess) throw std::runtime_error("cudaMalloc failed");
      buffers_.push_back(buffer);
      sizes_.push_back(bytes);
      context_->setTensorAddress(name, buffer);
      if (engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) input_ = i;
    }
    host_.resize(sizes_.empty() ? 0 : *std::max_element(sizes_.begin(), sizes_.end()));
  }
  ~BareSession() {
    context_.reset();
    engine_.reset();
    for (void* buffer : buffers_) cudaFree(buffer);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  BareSession(const BareSession&) = delete;
  BareSession& operator=(const BareSession&) = delete;

  double time_run(const sdk::Tensor& input) {
    const auto start = Clock::now();
    cudaMemcpyAsync(buffers_[input_], input.bytes.data(), std::min(input.bytes.size(), sizes_[input_]), cudaMemcpyHostToDevice, stream_);
    if (!context_->enqueueV3(stream_)) throw std::runtime_error("TensorRT inference failed: " + logger_.take_errors());
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      if (i != input_) cudaMemcpyAsync(host_.data(), buffers_[i], sizes_[i], cudaMemcpyDeviceToHost, stream_);
    }
    if (cudaStreamSynchronize(stream_) != cudaSuccess) throw std::runtime_error("TensorRT inference failed on the stream");
    return ms_since(start);
  }

 private:
  sdk::detail::trt::Logger logger_;
  sdk::detail::trt::Owned<nvinfer1::IRuntime> runtime_;
  sdk::detail::trt::Owned<nvinfer1::ICudaEngine> engine_;
  sdk::detail::trt::Owned<nvinfer1::IExecutionContext> context_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> buffers_;
  std::vector<std::size_t> sizes_;
  std::size_t input_ = 0;
  std::vector<uint8_t> host_;
};

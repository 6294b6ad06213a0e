// A plain MNN interpreter and session with the SDK's settings (float32, threads): the baseline for
// glue overhead. It reads the model file, without the SDK's integrity check.
class BareSession {
 public:
  BareSession(const std::string& model_path, int threads) : interpreter_(MNN::Interpreter::createFromFile(model_path.c_str())) {
    if (!interpreter_) throw std::runtime_error("MNN could not load " + model_path);
    const sdk::detail::mnn_tensors::SessionConfig config(threads);
    session_ = interpreter_->createSession(config.schedule);
    if (session_ == nullptr) throw std::runtime_error("MNN could not create a session for " + model_path);
  }
  ~BareSession() {
    if (session_ != nullptr) interpreter_->releaseSession(session_);
    MNN::Interpreter::destroy(interpreter_);
  }

  double time_run(const sdk::Tensor& input) {
    const auto start = Clock::now();
    const auto host = sdk::detail::mnn_tensors::wrap(input);
    interpreter_->getSessionInput(session_, nullptr)->copyFromHostTensor(host.get());
    if (interpreter_->runSession(session_) != MNN::NO_ERROR) throw std::runtime_error("MNN inference failed");
    for (const auto& output : interpreter_->getSessionOutputAll(session_)) {
      MNN::Tensor copy(output.second, MNN::Tensor::CAFFE, true);
      output.second->copyToHostTensor(&copy);
    }
    return ms_since(start);
  }

 private:
  MNN::Interpreter* interpreter_;
  MNN::Session* session_ = nullptr;
};

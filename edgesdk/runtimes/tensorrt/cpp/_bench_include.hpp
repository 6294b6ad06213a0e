#include <cuda_runtime_api.h>

#include <stdexcept>

#include "../sdk/cpp/src/runtime/tensorrt_engine.hpp"

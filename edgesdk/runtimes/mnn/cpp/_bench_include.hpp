#include <stdexcept>

#include "../sdk/cpp/src/runtime/mnn_tensors.hpp"

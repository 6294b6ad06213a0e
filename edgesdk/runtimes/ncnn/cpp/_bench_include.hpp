#include <stdexcept>

#include "../sdk/cpp/src/runtime/ncnn_tensors.hpp"
#include "net.h"

#include <openvino/openvino.hpp>

#include <onnxruntime_cxx_api.h>
#include <cstdlib>

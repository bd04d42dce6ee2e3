// Native unit tests (doctest). Built by CMake as pixart_native_tests and run through ctest.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

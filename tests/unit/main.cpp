//===- main.cpp - Catch2 entry point for the unit tests -------------------------------------===//
// GCC 12 reports false -Wmaybe-uninitialized positives inside <regex> and <functional> when
// Catch2's main is built with sanitizers; they are in the standard library, not in our code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#pragma GCC diagnostic pop

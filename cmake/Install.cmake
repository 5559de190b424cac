# cmake --install BUILD --prefix P: the nnc tool, the libraries, the public headers under
# include/nnc/ and a CMake package, so that another project can write
#
#   find_package(nnc CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE nnc::nnc)        # or nnc::runtime, nnc::pipeline, ...
#   #include <nnc/runtime/train/Trainer.h>
#
# Exported targets (namespace nnc::): nnc (everything), and one per library: support, ir,
# frontend, passes, codegen, exec, pipeline, runtime; flags and llvm carry the include
# directories and LLVM. The headers keep the source layout under include/nnc/, and both
# include/ and include/nnc/ are on the consumer's include path, so the headers' own includes
# ("ir/Graph.h") resolve as in the source tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(nnc_components support ir frontend passes codegen exec pipeline runtime)
add_library(nnc_all INTERFACE) # nnc::nnc: the Trainer and everything below it
target_link_libraries(nnc_all INTERFACE nnc_runtime)
add_library(nnc::nnc ALIAS nnc_all)
set_target_properties(nnc_all PROPERTIES EXPORT_NAME nnc)
set_target_properties(nnc_flags PROPERTIES EXPORT_NAME flags)
set_target_properties(nnc_llvm PROPERTIES EXPORT_NAME llvm)
set(nnc_export_targets nnc_all nnc_flags nnc_llvm)
foreach(c ${nnc_components})
  set_target_properties(nnc_${c} PROPERTIES EXPORT_NAME ${c})
  add_library(nnc::${c} ALIAS nnc_${c})
  list(APPEND nnc_export_targets nnc_${c})
endforeach()
target_include_directories(nnc_flags INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
                                               $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/nnc>)

install(TARGETS nnc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ${nnc_export_targets} EXPORT nncTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY support ir frontend passes codegen pipeline runtime
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nnc
        FILES_MATCHING PATTERN "*.h" PATTERN "*.def")

set(nnc_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/nnc)
install(EXPORT nncTargets NAMESPACE nnc:: DESTINATION ${nnc_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/nncConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/nncConfig.cmake INSTALL_DESTINATION ${nnc_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nncConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nncConfig.cmake ${PROJECT_BINARY_DIR}/nncConfigVersion.cmake
        DESTINATION ${nnc_cmake_dir})

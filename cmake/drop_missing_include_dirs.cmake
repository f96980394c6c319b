# drop_missing_include_dirs(): call at the end of a CMakeLists.txt, after every find_package().
#
# Some binary distributions (the PyPI wheels) export targets whose include directories name the
# machine they were built on; drop paths that do not exist here so that linking succeeds. On a
# regular ROS 2 install every path exists and nothing changes.
macro(drop_missing_include_dirs)
  get_property(_imported DIRECTORY PROPERTY IMPORTED_TARGETS)
  foreach(_target ${_imported})
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_kept "")
    foreach(_dir ${_dirs})
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _kept "${_dir}")
      endif()
    endforeach()
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
  endforeach()
endmacro()

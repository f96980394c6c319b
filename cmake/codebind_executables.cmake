# codebind_python_executables(DESTINATION <dir> ENTRY_POINTS <name=module:function> ...)
#
# Writes one Python launcher script per entry point into ${CMAKE_CURRENT_BINARY_DIR}/executables
# and installs it into <dir> (lib/<package> for `ros2 run`). The scripts are executable in the
# build tree too: `colcon build --symlink-install` installs a symlink to the build-tree file, and
# `ros2 run` / `ros2 launch` only find executables with the run bit.
function(codebind_python_executables)
  cmake_parse_arguments(ARG "" "DESTINATION" "ENTRY_POINTS" ${ARGN})
  if(NOT ARG_DESTINATION OR NOT ARG_ENTRY_POINTS)
    message(FATAL_ERROR "codebind_python_executables() needs DESTINATION and ENTRY_POINTS")
  endif()
  set(_dir "${CMAKE_CURRENT_BINARY_DIR}/executables")
  foreach(entry ${ARG_ENTRY_POINTS})
    if(NOT entry MATCHES "^([A-Za-z0-9_-]+)=([A-Za-z0-9_.]+):([A-Za-z0-9_]+)$")
      message(FATAL_ERROR "entry point '${entry}' is not NAME=module:function")
    endif()
    set(_exe "${_dir}/${CMAKE_MATCH_1}")
    # Ctrl-C while the modules load (rclpy, torch: seconds) stops quietly with status 0, as it
    # does once the node runs: codebind_ros.entry_points.run imports the module inside its guard
    # (which also ends an error that the interrupt caused, e.g. rclpy's wrapped ImportError)
    file(WRITE "${_exe}"
      "#!/usr/bin/env python3\n"
      "import sys\n"
      "try:\n"
      "    from codebind_ros.entry_points import run\n"
      "except KeyboardInterrupt:\n"
      "    sys.exit(0)\n"
      "sys.exit(run('${CMAKE_MATCH_2}:${CMAKE_MATCH_3}'))\n")
    file(CHMOD "${_exe}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                                     GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    install(PROGRAMS "${_exe}" DESTINATION "${ARG_DESTINATION}")
  endforeach()
endfunction()

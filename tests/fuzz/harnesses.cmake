# The fuzz harnesses, shared by the replay tests (tests/CMakeLists.txt: every
# test run replays each corpus) and the libFuzzer build (tests/fuzz/,
# -DROTOR_FUZZ=ON, run by scripts/fuzz.sh).
set(ROTOR_FUZZ_HARNESSES manifest config aws_xml infisical_json cred_json aws_ini envfile)
# These take bytes straight to a parser; the others use fuzzsupport.c.
set(ROTOR_FUZZ_STANDALONE manifest config)

# Links fuzzsupport.c into a target: records, temporary files, and the
# libcurl fake that answers rotor's HTTP requests from memory (linked in
# with --wrap, so nothing reaches the network).
function(rotor_fakecurl target)
  set(dir ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
  target_sources(${target} PRIVATE ${dir}/fuzzsupport.c)
  target_include_directories(${target} PRIVATE ${dir})
  target_link_options(${target} PRIVATE
    "LINKER:--wrap=curl_easy_setopt,--wrap=curl_easy_perform,--wrap=curl_easy_getinfo")
endfunction()

# Adds harness `name` (tests/fuzz/fuzz_NAME.c) to an executable target.
function(rotor_fuzz_harness target name)
  target_sources(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/fuzz_${name}.c)
  target_compile_options(${target} PRIVATE ${ROTOR_WARNINGS})
  target_link_libraries(${target} PRIVATE rotorcore)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/reconciler) # internals
  if(NOT name IN_LIST ROTOR_FUZZ_STANDALONE)
    rotor_fakecurl(${target})
  endif()
endfunction()

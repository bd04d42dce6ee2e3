{
  "targets": [
    {
      "target_name": "pixart",
      "sources": [
        "<!@(node native/sources.cjs space core cpu t5 dit vae export addon simdjson)"
      ],
      "include_dirs": [
        "native",
        "<!(node native/sources.cjs space simdjson-dir)",
        "<!(node native/sources.cjs space napi-dir)",
        "<!(node native/find-openblas.cjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-mavx2", "-mfma", "-mf16c", "-fexceptions"],
      "cflags": ["-O3"],
      "libraries": ["<!(node native/find-openblas.cjs lib)", "-lpthread", "-ldl", "-Wl,--exclude-libs,ALL"]
    }
  ]
}

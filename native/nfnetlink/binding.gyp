{
  "targets": [
    {
      "target_name": "nfnetlink",
      "sources": ["nfnetlink.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}

# Install rules, CMake package and pkg-config file: see issue 6 (not yet written).

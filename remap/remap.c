typedef int placeholder_remap;

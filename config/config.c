typedef int placeholder_config;

typedef int placeholder_server;

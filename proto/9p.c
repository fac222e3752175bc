typedef int placeholder_9p;

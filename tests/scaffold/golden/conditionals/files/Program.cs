var store = "cosmos";
#if DEBUG
var debug = true;
#endif

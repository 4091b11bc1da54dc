// if (A) syntax
#if (A)
var A = "true";
#else
var A = "false";
#endif
#if (B)
var B = "true";
#else
var B = "false";
#endif
#if (C)
var C = "true";
#else
var C = "false";
#endif
#if (D)
var D = "true";
#else
var D = "false";
#endif

// if (A == true) syntax
#if (A == true)
var A = "true";
#else
var A = "false";
#endif
#if (B == true)
var B = "true";
#else
var B = "false";
#endif
#if (C == true)
var C = "true";
#else
var C = "false";
#endif
#if (D == true)
var D = "true";
#else
var D = "false";
#endif

// if (A == "true") syntax
#if (A == "true")
var A = "true";
#else
var A = "false";
#endif
#if (B == "true")
var B = "true";
#else
var B = "false";
#endif
#if (C == "true")
var C = "true";
#else
var C = "false";
#endif
#if (D == "true")
var D = "true";
#else
var D = "false";
#endif

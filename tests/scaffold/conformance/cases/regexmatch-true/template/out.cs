#if (isMatch)
MATCH
#else
NO MATCH
#endif

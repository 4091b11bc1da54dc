Hello
#if (1.2 < 2.5)
value
#endif
There
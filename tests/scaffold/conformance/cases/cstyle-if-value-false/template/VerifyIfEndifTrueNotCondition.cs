Hello
    #if (!VALUE)
value
    #endif
There
Hello
    #if (VALUE << 1 == 8)
value
    #endif
There
Hello
    #if ((VALUE & 0xFFFF) == 2)
value
    #endif
There
Hello
    #if (VALUE | 0xFFFD == 0xFFFF)
value
    #endif
There
Hello
    #if (3 > VALUE)
value
    #else
other
    #endif
There
Hello
    #if ("Hello	There" == VALUE)
value
    #else
other
    #endif
There
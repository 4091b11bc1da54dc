Hello
    #if ((VALUE == 2) && (VALUE2 == 3))
value
    #endif
There
Hello
    #if (VALUE < 3 ^ VALUE == 7)
value
    #endif
There
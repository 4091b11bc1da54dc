Hello
    #if (VALUE == 6 || VALUE < 3)
value
    #endif
There
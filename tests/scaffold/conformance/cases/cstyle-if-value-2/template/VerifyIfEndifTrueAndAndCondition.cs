Hello
    #if (VALUE < 3 && VALUE < 4 && VALUE < 5)
value
    #endif
There
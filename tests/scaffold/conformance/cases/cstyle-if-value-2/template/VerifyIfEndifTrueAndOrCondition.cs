Hello
    #if ((VALUE != 7 && VALUE < 3) || VALUE == 6)
value
    #endif
There
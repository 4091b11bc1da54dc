Hello
    #if ((VALUE == 3) == true)
value
    #endif
There
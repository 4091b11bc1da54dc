Hello
    #if 	 (VALUE)
value
    #else
other
    #endif
There
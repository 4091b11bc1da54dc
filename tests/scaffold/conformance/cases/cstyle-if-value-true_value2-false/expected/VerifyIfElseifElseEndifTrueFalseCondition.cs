Hello
value
There
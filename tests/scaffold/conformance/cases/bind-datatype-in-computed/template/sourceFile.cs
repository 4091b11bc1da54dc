//#if (computed)
success
//#endif
Module Module1
    Sub DefaultTrueIncluded()
    End Sub

'#If defaultTrue
    Sub InsideUnknownDirectiveNoEmit()
    End Sub
'#End If

    Sub DefaultFalseIncluded()
    End Sub

' Without noEmit the following line will be emitted
'-:cnd
'#If defaultFalse
    Sub InsideUnknownDirectiveEmit()
    End Sub
'#End If
'+:cnd
End Module
"""Decision tables (DMN) as leaders edit them: a JSON table model, its DMN XML, publishing and trying."""

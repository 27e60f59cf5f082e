"""Files attached to a case (evidence, agreements, photos), uploaded through task forms."""

"""Gateway: receives tracker fixes, validates, de-duplicates and stores them, then relays what committed."""

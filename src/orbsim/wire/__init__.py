"""HTTP adapter: Orb's wire format over one dispatch function shared by every transport."""

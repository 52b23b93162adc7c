"""Core: the host clock, the records that cross threads (types), units and the engine's error root;
imports no other stage."""

"""Sessions written offline: other tools' files (CSV / text tables, XDF, paired EMG + pose, dataset
folders) and synthetic sessions."""

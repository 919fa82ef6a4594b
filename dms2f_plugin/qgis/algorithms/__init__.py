"""One Processing algorithm per module, all on :class:`.base.Dms2fAlgorithm`."""

"""Any BrainFlow board with EMG/EXG channels as an EMG source (spec ``brainflow:BOARD[,key=value...]``).

BrainFlow (optional extra ``[devices]``) drives the board in its own C++ thread and buffers rows;
this source polls that buffer, keeps the EMG rows and stamps them with the same sample-count clock
fit as every other driver. What comes from the board descriptor (``BoardShim.get_board_descr``):
the EMG rows (``emg_channels``, else ``exg_channels``), the rate, the channel names (``emg_names``,
else ``eeg_names`` when they describe the same rows, else ``ch1..chN``) and the package-number row.
BrainFlow already scales EXG to microvolts, so chunks carry (n, C) float64 µV (``scale_to_uV`` 1).

Loss: the package number counts packets modulo 256 (every board BrainFlow ships wraps at 256); a
jump of k > 1 is k - 1 lost samples and a gap. Time: each row's BrainFlow timestamp (wall clock
at the moment BrainFlow read it) is mapped onto the host monotonic clock and used as the chunk's
arrival. Reconnect: a BrainFlowError while streaming, or silence longer than ``lost_after_s``,
releases the session and prepares it again; the restarted board is placed on the continuous index
by the fitted clock (as the Cyton driver does), so the hole becomes a recorded gap.

Keys after the board name go to ``BrainFlowInputParams`` (``serial_port``, ``mac_address``,
``ip_address``, ``ip_port``, ``ip_protocol``, ``serial_number``, ``file``, ``other_info``,
``timeout``, ``master_board``, ...). For ``PLAYBACK_FILE_BOARD`` give ``file=`` and ``master_board=``
(the board that wrote the file).
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from recorder.core.clock import now
from recorder.core.types import DeviceState
from recorder.sources.base import DeviceError, DeviceLost, DeviceNotFound, EmgSource, SourceConfigError

log = logging.getLogger(__name__)

PACKAGE_MODULUS = 256
INSTALL_HINT = "the brainflow package is not installed: pip install 'emgrec[devices]' (or pip install brainflow)"


_loaded = False


def _brainflow():
    global _loaded
    try:
        from brainflow import board_shim
    except ImportError:
        raise DeviceError(INSTALL_HINT) from None
    if not _loaded:
        with warnings.catch_warnings():
            # BrainFlow's loader imports pkg_resources (deprecated; setuptools<81 still has it).
            warnings.simplefilter("ignore", UserWarning)
            board_shim.BoardShim.disable_board_logger()
        _loaded = True
    return board_shim


def board_id(name: str) -> int:
    """BrainFlow board id for ``name``: a BoardIds name (case-insensitive, ``_BOARD`` optional, e.g.
    ``synthetic``, ``CYTON_BOARD``, ``ganglion``) or its integer id. ValueError naming the known boards."""
    bs = _brainflow()
    s = name.strip()
    try:
        return int(bs.BoardIds(int(s)).value)
    except ValueError:
        pass
    key = s.upper().replace("-", "_")
    for cand in (key, key + "_BOARD"):
        if cand in bs.BoardIds.__members__:
            return int(bs.BoardIds[cand].value)
    known = ", ".join(m for m in bs.BoardIds.__members__ if m.endswith("_BOARD"))
    raise SourceConfigError(f"unknown BrainFlow board {name!r}; known boards: {known}")


def parse_spec(arg: str) -> tuple[str, dict[str, str]]:
    """``BOARD[,key=value...]`` -> (board, params). ValueError on a malformed key=value part."""
    parts = [p.strip() for p in arg.split(",")]
    if not parts[0]:
        raise SourceConfigError("brainflow spec needs a board: brainflow:BOARD[,key=value...], e.g. brainflow:SYNTHETIC_BOARD")
    params = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        if not eq or not k.strip():
            raise SourceConfigError(f"bad brainflow option {p!r}: expected key=value (e.g. serial_port=/dev/ttyUSB0)")
        params[k.strip().lower()] = v.strip()
    return parts[0], params


_INT_PARAMS = ("ip_port", "ip_protocol", "timeout", "master_board", "ip_port_aux", "ip_protocol_aux")


class BrainFlowSource(EmgSource):
    """EMG/EXG rows of a BrainFlow board.

    board: BoardIds name or id; params: BrainFlowInputParams fields (strings; ints converted);
    poll_s: how often BrainFlow's buffer is read. Chunks: (n, C) float64 microvolts.
    """

    kind = "brainflow"
    units = "uV"
    scale_to_uV = 1.0
    dtype = np.float64
    poll_s = 0.02
    lost_after_s = 1.5
    reconnect_interval_s = 0.5

    def __init__(self, board: str, params: dict[str, str] | None = None, reconnect: bool = True):
        bs = _brainflow()
        self.board_name = board
        self.board_id = board_id(board)
        self.params = dict(params or {})
        self.reconnect = reconnect
        known = set(vars(bs.BrainFlowInputParams()))
        unknown = sorted(set(self.params) - known)
        if unknown:
            raise SourceConfigError(f"unknown brainflow option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if self.board_id == int(bs.BoardIds.PLAYBACK_FILE_BOARD.value):
            if "file" not in self.params or "master_board" not in self.params:
                raise SourceConfigError("PLAYBACK_FILE_BOARD needs file=PATH and master_board=BOARD (the board that wrote it)")
            self.params["master_board"] = str(board_id(self.params["master_board"]))
        self._descr_id = int(self.params.get("master_board", self.board_id)) if "master_board" in self.params \
            else self.board_id
        try:
            d = bs.BoardShim.get_board_descr(self._descr_id)
        except bs.BrainFlowError as e:
            raise SourceConfigError(f"BrainFlow has no descriptor for board {board!r}: {e}") from None
        rows = d.get("emg_channels") or d.get("exg_channels")
        if not rows:
            raise SourceConfigError(f"BrainFlow board {board!r} ({d.get('name')}) has no EMG or EXG channels")
        self.rows = [int(r) for r in rows]
        self.package_row = d.get("package_num_channel")
        self.timestamp_row = d.get("timestamp_channel")
        self.sample_rate_hz = float(d["sampling_rate"])
        self.channel_names = self._names(d)
        self.descriptor = d
        super().__init__()
        self._shim = None
        self._last_pkg: int | None = None
        self._index_offset: int | None = 0
        self._wall_to_host = 0.0
        self._status.info.update(board=bs.BoardIds(self.board_id).name, board_name=str(d.get("name", "")))

    def _names(self, d: dict) -> list[str]:
        for key in ("emg_names", "exg_names"):
            if d.get(key):
                names = [n.strip() for n in str(d[key]).split(",")]
                if len(names) == len(self.rows):
                    return names
        if d.get("eeg_names") and list(d.get("eeg_channels") or []) == self.rows:
            names = [n.strip() for n in str(d["eeg_names"]).split(",")]
            if len(names) == len(self.rows):
                return names
        return [f"ch{i}" for i in range(1, len(self.rows) + 1)]

    def describe(self) -> dict:
        return {**super().describe(), "board_id": self.board_id,
                "params": {k: v for k, v in self.params.items() if k != "file"}}

    # -- connection ---------------------------------------------------------------------------
    def _input_params(self):
        bs = _brainflow()
        p = bs.BrainFlowInputParams()
        for k, v in self.params.items():
            setattr(p, k, int(v) if k in _INT_PARAMS else v)
        return p

    def _connect(self) -> None:
        bs = _brainflow()
        shim = bs.BoardShim(self.board_id, self._input_params())
        try:
            shim.prepare_session()
            shim.start_stream(45000)
        except bs.BrainFlowError as e:
            try:
                shim.release_session()
            except bs.BrainFlowError:
                pass
            raise DeviceNotFound(f"BrainFlow could not open {self.board_name} ({self._where()}): {e}") from None
        self._shim = shim
        # A restarted board counts packages from 0 again: after a reconnect place it by the clock.
        self._index_offset = 0 if self._status.samples_received == 0 else None
        self._last_pkg = None
        self._wall_to_host = now() - time.time()

    def _where(self) -> str:
        keys = [k for k in ("serial_port", "mac_address", "ip_address", "file", "serial_number") if self.params.get(k)]
        return ", ".join(f"{k}={self.params[k]}" for k in keys) or "no port given"

    def _release(self) -> None:
        shim, self._shim = self._shim, None
        if shim is None:
            return
        bs = _brainflow()
        for call in (shim.stop_stream, shim.release_session):
            try:
                call()
            except bs.BrainFlowError:
                pass

    # -- streaming ----------------------------------------------------------------------------
    def _run(self) -> None:
        bs = _brainflow()
        first = True
        while not self._stop.is_set():
            self._set_state(DeviceState.CONNECTING if first else DeviceState.RECONNECTING)
            try:
                self._connect()
                self._set_state(DeviceState.STREAMING)
                first = False
                last_data = now()
                while not self._stop.wait(self.poll_s):
                    try:
                        shim = self._shim
                        data = shim.get_board_data() if shim is not None else None
                    except bs.BrainFlowError as e:
                        raise DeviceLost(f"BrainFlow {self.board_name}: {e}") from None
                    if data is None:
                        raise DeviceLost(f"BrainFlow {self.board_name}: session released")
                    t = now()
                    if data.shape[1]:
                        last_data = t
                        self._handle(data, t)
                    elif t - last_data > self.lost_after_s:
                        raise DeviceLost(f"no data from BrainFlow {self.board_name} for {t - last_data:.1f} s")
            except DeviceLost as e:
                log.warning("%s lost: %s", self.board_name, e)
                self._update_status(last_error=str(e))
            except DeviceNotFound as e:
                if first or not self.reconnect:
                    raise
                self._update_status(last_error=str(e))
            finally:
                self._release()
            if self._stop.is_set():
                break
            if not self.reconnect:
                raise DeviceLost(f"BrainFlow {self.board_name} was lost and reconnect is off")
            if self._sleep(self.reconnect_interval_s):
                break

    def _handle(self, data: np.ndarray, poll_t: float) -> None:
        """data: (num_rows, n) BrainFlow rows. Emits runs of consecutive packages."""
        x = np.ascontiguousarray(data[self.rows].T, dtype=np.float64)
        arrival = poll_t
        if self.timestamp_row is not None:
            # BrainFlow's own read time of the newest row, on the host clock (never after our poll).
            arrival = min(poll_t, float(data[self.timestamp_row, -1]) + self._wall_to_host)
        if self.package_row is None:
            self._emit(x, arrival)
            return
        pkg = data[self.package_row].astype(np.int64)
        steps = np.diff(pkg) % PACKAGE_MODULUS
        if self._last_pkg is None:
            rel = np.concatenate([[0], np.cumsum(steps)])
            if self._index_offset is None:  # first chunk after a reconnect
                self._index_offset = self._place(int(rel[-1]), arrival)
            base = self._index_offset
        else:
            first_step = (int(pkg[0]) - self._last_pkg) % PACKAGE_MODULUS
            rel = np.concatenate([[first_step], first_step + np.cumsum(steps)])
            base = self._next_index - 1
        self._last_pkg = int(pkg[-1])
        idx = base + rel
        # Runs of consecutive indices; a step of 0 (a repeated package) is dropped as a duplicate.
        keep = np.concatenate([[True], np.diff(idx) > 0])
        if self._status.samples_received and idx[0] < self._next_index:
            keep[0] = False
        x, idx = x[keep], idx[keep]
        if not len(idx):
            return
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(idx)]):
            self._emit(x[a:b], arrival, first_index=int(idx[a]))

    def _place(self, last_rel: int, arrival: float) -> int:
        """Offset from the restarted board's count to the continuous index, from the fitted clock
        (the newest sample was taken at or before ``arrival``)."""
        last = self.clock.expected_index(arrival - 0.5 / self.sample_rate_hz, 1)
        if last is None:
            return self._next_index
        return max(last - last_rel, self._next_index)

    def _finish(self) -> None:
        self._release()


def list_boards() -> list[tuple[str, int, str, int, float]]:
    """(BoardIds name, id, descriptor name, EMG/EXG channel count, rate Hz) of every board BrainFlow
    knows that has EMG or EXG channels; [] when brainflow is not installed."""
    try:
        bs = _brainflow()
    except DeviceError:
        return []
    out = []
    for name, member in bs.BoardIds.__members__.items():
        try:
            d = bs.BoardShim.get_board_descr(int(member.value))
        except Exception:  # boards with presets only, or none in this build
            continue
        rows = d.get("emg_channels") or d.get("exg_channels")
        if rows:
            out.append((name, int(member.value), str(d.get("name", "")), len(rows), float(d["sampling_rate"])))
    return out

"""One step of a recurrence: RNN, LSTM, GRU (torch.nn's parameter names and gate order), and GRU-D
for irregular series with missing values."""

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.gru import GRUCell, gru_step
from rnnkit.cells.grud import GRUDCell, GRUDState
from rnnkit.cells.lstm import LSTMCell, LSTMState, lstm_step
from rnnkit.cells.rnn import RNNCell, rnn_step

__all__ = ["GRUCell", "GRUDCell", "GRUDState", "LSTMCell", "LSTMState", "RNNCell", "RecurrentCell", "gru_step", "lstm_step", "rnn_step"]

"""Modbus RTU (RS485) and Modbus TCP probes, described by register maps.

The cheap soil probes (moisture, temperature, EC, pH, N-P-K) and water-quality probes (DO, pH,
temperature) sold in Vietnam differ only in register addresses, data types and scale factors,
so those live in a register map file per probe model (``edge/examples/registers/*.yaml``) and
this driver is generic. Registers are read one value at a time: these probes often refuse a
read that spans an unmapped gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from farmwatch_edge.config import ModbusSensor, Register, RegisterMap

if TYPE_CHECKING:
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient

_REGISTER_COUNT = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}


class ModbusDriver:
    """Reads every register of the map; connects lazily and reconnects after errors."""

    def __init__(self, config: ModbusSensor) -> None:
        self.config = config
        if config.register_map is not None:
            self.registers = RegisterMap.load(config.register_map).registers
        else:
            self.registers = list(config.registers)
        self._client: ModbusTcpClient | ModbusSerialClient | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def quantities(self) -> tuple[str, ...]:
        return tuple(r.quantity for r in self.registers)

    def _connect(self) -> ModbusTcpClient | ModbusSerialClient:
        from farmwatch_edge.drivers import DriverError

        if self._client is not None:
            return self._client
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        cfg = self.config
        client: ModbusTcpClient | ModbusSerialClient
        if cfg.transport == "tcp":
            client = ModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)
            where = f"{cfg.host}:{cfg.port}"
        else:
            client = ModbusSerialClient(
                cfg.serial_port,
                baudrate=cfg.baudrate,
                parity=cfg.parity,
                timeout=cfg.timeout_s,
                retries=0,
            )
            where = cfg.serial_port
        if not client.connect():
            client.close()  # type: ignore[no-untyped-call]
            raise DriverError(f"cannot connect to Modbus {cfg.transport} {where}")
        self._client = client
        return client

    def read(self) -> dict[str, float]:
        from pymodbus import ModbusException

        from farmwatch_edge.drivers import DriverError

        client = self._connect()
        out: dict[str, float] = {}
        try:
            for register in self.registers:
                out[register.quantity] = self._read_one(client, register)
        except (ModbusException, OSError) as exc:
            self.close()  # a fresh connection next time: the link may have been reset
            raise DriverError(f"Modbus error: {exc}") from exc
        return out

    def _read_one(self, client: ModbusTcpClient | ModbusSerialClient, register: Register) -> float:
        from farmwatch_edge.drivers import DriverError

        count = _REGISTER_COUNT[register.data_type]
        read = (
            client.read_holding_registers
            if register.table == "holding"
            else client.read_input_registers
        )
        response = read(register.address, count=count, device_id=self.config.device_id)
        if response.isError():
            raise DriverError(
                f"{register.quantity}: device {self.config.device_id} answered {response} "
                f"for {register.table} register {register.address}"
            )
        data_type = getattr(client.DATATYPE, register.data_type.upper())
        raw = client.convert_from_registers(
            response.registers, data_type, word_order=register.word_order
        )
        if not isinstance(raw, int | float):
            raise DriverError(f"{register.quantity}: unexpected value {raw!r}")
        return round(raw * register.scale + register.offset, 6)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None
